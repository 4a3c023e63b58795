#pragma once

// Whether this build is instrumented by AddressSanitizer or ThreadSanitizer. Both reserve
// terabytes of shadow memory as private mappings at start-up, which RLIMIT_DATA counts, so a
// process of such a build cannot run under a data limit (tests/sanitize.sh builds them).

namespace switchyard::core {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kShadowMemorySanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kShadowMemorySanitizer = true;
#else
inline constexpr bool kShadowMemorySanitizer = false;
#endif
#else
inline constexpr bool kShadowMemorySanitizer = false;
#endif

}  // namespace switchyard::core

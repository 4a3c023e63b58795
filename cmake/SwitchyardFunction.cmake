# switchyard_add_function(NAME [SOURCES] file... [OUTPUT_DIRECTORY dir] [LIBS lib...])
#
# Builds a switchyard function as a MODULE library lib<NAME>.so, the way a function should be
# built. Shared by the in-tree examples (functions/CMakeLists.txt) and by out-of-tree projects
# (find_package(switchyard) installs this file next to switchyardConfig.cmake):
# - only the ABI symbols are exported (hidden visibility), so functions loaded side by side never
#   resolve each other's symbols;
# - -fno-gnu-unique with g++, because g++ otherwise makes the statics of inline functions and
#   templates process-wide symbols that two loaded versions of a library would share and that make
#   dlclose a no-op (clang never emits such symbols and rejects the flag);
# - -z defs, so that a missing symbol fails the build instead of the load.
#
# Sources may be given after SOURCES or directly after the name:
#   switchyard_add_function(thumb thumb.cc)
# The function headers come from the target switchyard::function, which must exist.
include_guard(GLOBAL)

function(switchyard_add_function name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBS" ${ARGN})
  set(sources ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  if(NOT sources)
    message(FATAL_ERROR "switchyard_add_function(${name}): no source files given")
  endif()
  if(NOT TARGET switchyard::function)
    message(FATAL_ERROR "switchyard_add_function(${name}): the target switchyard::function "
                        "(the function headers) is missing; use find_package(switchyard)")
  endif()
  add_library(${name} MODULE ${sources})
  target_link_libraries(${name} PRIVATE switchyard::function ${ARG_LIBS})
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    C_STANDARD 11
    C_EXTENSIONS OFF
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  target_compile_options(${name} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:-Wpedantic>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-fno-gnu-unique>)
  target_link_options(${name} PRIVATE LINKER:-z,defs)
  # <switchyard/function.hpp> needs C++20 (std::span); C functions need only C11.
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(CXX IN_LIST languages)
    target_compile_features(${name} PRIVATE cxx_std_20)
  endif()
endfunction()

#include "config/admin.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "config/kinds.h"

namespace switchyard::config {

namespace fs = std::filesystem;

namespace {

// Access key ids as AWS allows them: 16 to 128 word characters; shorter ones are accepted here
// (operators name their keys), but not spaces or separators that break the Credential field.
bool valid_key_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

void read_secret(MapReader& key, const fs::path& config_dir, AdminKey& out) {
  FileReader& file = key.file_reader();
  const bool from_env = key.has("secret_env");
  const bool from_file = key.has("secret_file");
  if (from_env == from_file) {
    file.fail(key.node(), key.prefix() +
                              " needs exactly one of secret_env and secret_file (a "
                              "secret is never written in switchyard.yaml)");
    return;
  }
  std::string source;
  if (from_env) {
    if (!key.read_string("secret_env", source, false)) {
      return;
    }
    const char* value = file.env() ? file.env()(source.c_str()) : std::getenv(source.c_str());
    if (value == nullptr || *value == '\0') {
      file.fail(key.get("secret_env"), key.name("secret_env") + ": environment variable " + source +
                                           " is not set or empty");
      return;
    }
    out.secret = value;
    return;
  }
  if (!key.read_string("secret_file", source, false)) {
    return;
  }
  fs::path path = resolve_path(config_dir, source);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    file.fail(key.get("secret_file"), key.name("secret_file") + ": cannot read " + path.string() +
                                          ": " + std::strerror(errno));
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out.secret = text.str();
  while (!out.secret.empty() && (out.secret.back() == '\n' || out.secret.back() == '\r')) {
    out.secret.pop_back();
  }
  if (out.secret.empty()) {
    file.fail(key.get("secret_file"), key.name("secret_file") + ": " + path.string() + " is empty");
  }
}

void read_functions(MapReader& key, AdminKey& out) {
  YAML::Node list = key.get("functions");
  if (!list.IsDefined()) {
    return;
  }
  FileReader& file = key.file_reader();
  if (!list.IsSequence() || list.size() == 0) {
    file.fail(list, key.name("functions") +
                        " must be a non-empty list of function names (leave it out for every "
                        "function)");
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (std::optional<std::string> name = file.scalar(
            list[i], key.name("functions") + "[" + std::to_string(i) + "]", "a function name")) {
      out.functions.push_back(std::move(*name));
    }
  }
}

}  // namespace

bool AdminKey::may_invoke(const std::string& function) const {
  return functions.empty() ||
         std::find(functions.begin(), functions.end(), function) != functions.end();
}

bool is_loopback(std::string_view address) {
  if (address == "localhost") {
    return true;
  }
  std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void parse_admin(FileReader& file, const YAML::Node& node, const fs::path& config_dir,
                 AdminListenerConfig& out) {
  MapReader admin(file, node, "admin", "admin");
  if (!admin.valid()) {
    return;
  }
  admin.allow_keys({"address", "port", "enabled", "keys", "insecure"});
  admin.read_string("address", out.address, false);
  admin.read_int("port", 0, 65535, out.port);
  admin.read_bool("enabled", out.enabled);
  admin.read_bool("insecure", out.insecure);

  if (YAML::Node keys = admin.get("keys"); keys.IsDefined()) {
    if (!keys.IsSequence() || keys.size() == 0) {
      file.fail(keys,
                "admin.keys must be a non-empty list of access keys ({access_key_id, "
                "secret_env or secret_file})");
    } else {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        std::string prefix = "admin.keys[" + std::to_string(i) + "]";
        MapReader key(file, keys[i], prefix, prefix);
        if (!key.valid()) {
          continue;
        }
        key.allow_keys({"access_key_id", "secret_env", "secret_file", "functions"});
        AdminKey parsed;
        if (key.require("access_key_id") &&
            key.read_string("access_key_id", parsed.access_key_id, false)) {
          if (!valid_key_id(parsed.access_key_id)) {
            file.fail(key.get("access_key_id"),
                      key.name("access_key_id") + " \"" + parsed.access_key_id +
                          "\" must be letters, digits, '_', '-' or '.' (at most 128)");
          } else if (!seen.insert(parsed.access_key_id).second) {
            file.fail(key.get("access_key_id"), key.name("access_key_id") + " \"" +
                                                    parsed.access_key_id + "\" is given twice");
          }
        }
        read_secret(key, config_dir, parsed);
        read_functions(key, parsed);
        out.keys.push_back(std::move(parsed));
      }
    }
  }

  if (out.enabled && !out.authenticated() && !out.insecure && !is_loopback(out.address)) {
    file.fail(admin.has("address") ? file.location(admin.get("address")) : file.location(node),
              "admin.address " + out.address +
                  " is not a loopback address: anyone who reaches it could invoke every "
                  "function. Give admin.keys (access keys the AWS tools sign with), or set "
                  "admin.insecure: true to serve it without authentication");
  }
}

}  // namespace switchyard::config

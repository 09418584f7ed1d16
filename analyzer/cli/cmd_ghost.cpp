#include <cinttypes>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "zdedup/error.h"
#include "zdedup/ghost.h"
#include "zdedup/input.h"
#include "zdedup/output.h"

namespace zdedup::cli {

namespace {

std::string uuid_text(const std::array<std::uint8_t, 16>& u) {
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                u[14], u[15]);
  return buf;
}

}  // namespace

Action add_ghost(CLI::App& app) {
  struct Opts {
    std::string file;
    std::string size;
    std::string label;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* g = app.add_subcommand("ghost", "Ghost swapfiles: swap space that only zswap backs (patched 7.2)");
  g->require_subcommand(1);
  CLI::App* c = g->add_subcommand("create", "Create a ghost swapfile: one page, a swap header declaring SIZE");
  c->add_option("file", o->file, "The file to create (must not exist; any file system, tmpfs too)")
      ->required();
  c->add_option("--size", o->size, "Swap space it declares, header page included (K, M, G, T suffixes)")
      ->required();
  c->add_option("--label", o->label, "Volume label in the header (at most 16 bytes)");
  c->add_flag("--json", o->json, "Print the header's fields as one JSON object");
  c->footer(
      "Writes a single page: a version-1 swap header (SWAPSPACE2) whose last_page declares\n"
      "SIZE. A kernel with the ghost swapfile patch (kpatch/7.2) swaps on it with zswap as the\n"
      "only store: pages zswap refuses stay in memory, nothing is written past the header.\n"
      "Other kernels refuse it (swapon: Invalid argument). mkswap cannot make one.\n\n"
      "Exit status: 0 created, 2 bad input (bad size or label, FILE exists, its directory\n"
      "cannot be written), 5 the header could not be written (disk full; FILE is removed).\n\n"
      "Examples:\n"
      "  zdedup ghost create /run/ghostswap --size 8G && swapon /run/ghostswap\n"
      "  zdedup ghost create /swap.ghost --size 512M --label ghost --json");
  return [o, c]() {
    if (!c->parsed()) return static_cast<int>(Exit::bad_input);
    const GhostSwapfile r = create_ghost_swapfile(o->file, parse_byte_size(o->size, "--size"), o->label);
    if (o->json) {
      nlohmann::json j = {{"path", r.path},         {"page_size", r.page_size},
                          {"last_page", r.last_page}, {"swap_bytes", r.swap_bytes},
                          {"uuid", uuid_text(r.uuid)}, {"label", r.label}};
      emit(json_text(j) + "\n");
    } else {
      char line[256];
      std::snprintf(line, sizeof(line), "%s: ghost swapfile, %s of swap (%" PRIu64 " slots of %u B), UUID %s\n",
                    r.path.c_str(), format_bytes(r.swap_bytes).c_str(), r.last_page, r.page_size,
                    uuid_text(r.uuid).c_str());
      emit(line);
    }
    return static_cast<int>(Exit::ok);
  };
}

}  // namespace zdedup::cli

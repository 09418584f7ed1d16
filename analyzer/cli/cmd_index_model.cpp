// zdedup report --index-model: the candidate kernel index designs over traces.
#include "commands.h"
#include "zdedup/error.h"
#include "zdedup/index_model.h"
#include "zdedup/output.h"

namespace zdedup::cli {

int run_index_model(const std::vector<std::string>& traces, const std::string& models, bool json,
                    bool global) {
  // Parsed before any trace is read: a bad name is a usage error (exit 2).
  const std::vector<IndexModelSpec> specs = parse_index_models(models);
  int status = static_cast<int>(Exit::ok);
  // JSON: one object for one trace, an array of them for several.
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& t : traces) {
    const IndexModelReport r = model_trace(t, specs, global);
    if (json)
      all.push_back(to_json(r));
    else
      emit(render_table(r));
    if (r.info.damage) {
      error_line(describe_damage(r.info, "modelled"));
      status = static_cast<int>(Exit::partial);
    }
  }
  if (json) emit((all.size() == 1 ? all[0] : all).dump(2) + "\n");
  return status;
}

}  // namespace zdedup::cli

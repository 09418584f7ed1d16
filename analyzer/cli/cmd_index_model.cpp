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
  std::vector<IndexModelReport> reports;
  for (const std::string& t : traces) {
    reports.push_back(model_trace(t, specs, global));
    const IndexModelReport& r = reports.back();
    if (!json) emit(render_table(r));
    if (r.info.damage) {
      error_line(describe_damage(r.info, "modelled"));
      status = static_cast<int>(Exit::partial);
    }
  }
  if (json) emit(index_model_json(reports).dump(2) + "\n");
  return status;
}

}  // namespace zdedup::cli

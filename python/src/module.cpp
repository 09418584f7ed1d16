// _zdedup: the Python binding of the analyzer library.  No logic of its own:
// every figure comes from the same calls the CLI makes, so Python and the CLI
// agree by construction (tests/python checks that they do).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "zdedup/analysis.h"
#include "zdedup/error.h"
#include "zdedup/event.h"
#include "zdedup/gate.h"
#include "zdedup/input.h"
#include "zdedup/output.h"
#include "zdedup/scan.h"
#include "zdedup/trace.h"

namespace py = pybind11;
using namespace zdedup;

namespace {

// Text from the library into Python.  Paths, process names and metadata come
// from files and the system as bytes: invalid UTF-8 becomes U+FFFD instead of
// a UnicodeDecodeError.
py::str text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// JSON text across the boundary: the Python side turns it into dicts with
// json.loads, exactly what `zdedup ... --json` prints.
std::string report_json_text(const std::vector<std::string>& paths, std::size_t top, bool global,
                             const std::vector<std::string>& domains) {
  AnalyzeOptions ao;
  ao.top_n = top;
  ao.global_scope = global;
  ao.domains = domains;
  return json_text(report_json(analyze_traces(paths, ao), top));
}

// A read_trace DataFrame's columns back into events, for a replay: the one
// copy they make.  numpy copies each column straight into the events through
// a view of them, converting and following strides as needed; "type" comes as
// the categorical's codes (EVENT_TYPES order, -1 for a type it did not know).
std::vector<Event> events_from_columns(const py::dict& cols) {
  auto codes = py::array_t<std::int8_t, py::array::forcecast>::ensure(cols["type"]);
  if (!codes || codes.ndim() != 1) throw Error(Exit::bad_input, "column type: expected 1-d codes");
  const py::ssize_t n = codes.shape(0);
  std::vector<Event> ev(static_cast<std::size_t>(n));
  // With a base, pybind11 wraps ev's memory instead of copying it; the view
  // stays here, so ev outlives it.
  py::array_t<Event> view(n, ev.data(), py::none());
  for (py::handle name : view.dtype().attr("names")) {
    const std::string field = name.cast<std::string>();
    if (field == "type") continue;
    py::object col = cols[name];
    if (py::len(col) != static_cast<std::size_t>(n))  // numpy would broadcast a length-1 column
      throw Error(Exit::bad_input,
                  "column " + field + ": expected " + std::to_string(n) + " values");
    view[name] = col;
  }
  auto c = codes.unchecked<1>();
  for (py::ssize_t i = 0; i < n; ++i)
    ev[i].type = c(i) < 0 ? 0 : static_cast<std::uint8_t>(ZDEDUP_EV_STORE + c(i));
  return ev;
}

}  // namespace

PYBIND11_MODULE(_zdedup, m) {
  m.doc() = "zdedup analyzer core (use the zdedup package, not this module)";
  static py::exception<Error> exc(m, "Error", PyExc_RuntimeError);
  // Every failure of the library is a zdedup.Error with the CLI's message and
  // the exit status the CLI would have used, other C++ exceptions included
  // (the CLI reports those as "internal error", exit 2).  pybind11's own
  // (Python errors in flight, argument conversion) keep their Python types.
  py::register_exception_translator([](std::exception_ptr p) {
    auto raise = [](const std::string& message, Exit code) {
      py::object value = py::reinterpret_borrow<py::object>(exc.ptr())(text(message));
      value.attr("exit_code") = static_cast<int>(code);
      PyErr_SetObject(exc.ptr(), value.ptr());
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise(e.what(), e.code());
    } catch (const py::error_already_set&) {
      throw;
    } catch (const py::builtin_exception&) {
      throw;
    } catch (const std::exception& e) {
      raise(std::string("internal error: ") + e.what(), Exit::bad_input);
    }
  });

  // The dtype of one event is the struct's own (offsetof, sizeof), so the
  // layout has one definition, bpf/zdedup_event.h.  The fields are listed by
  // name: one added to the struct but not here would be padding to numpy.
  PYBIND11_NUMPY_DTYPE(Event, ts_ns, slot, hash, scope, comp_len, cpu, type, flags);
  static_assert(sizeof(Event::ts_ns) + sizeof(Event::slot) + sizeof(Event::hash) +
                        sizeof(Event::scope) + sizeof(Event::comp_len) + sizeof(Event::cpu) +
                        sizeof(Event::type) + sizeof(Event::flags) ==
                    sizeof(Event),
                "a field of struct zdedup_event is missing from the numpy dtype");
  m.attr("EVENT_SIZE") = ZDEDUP_EVENT_SIZE;
  m.def(
      "event_dtype", [] { return py::dtype::of<Event>(); },
      "numpy dtype of one event (bpf/zdedup_event.h)");

  // Flag bits and type codes as the probes write them (bpf/zdedup_event.h):
  // the package decodes events with these, not with values of its own.
  m.attr("F_STORED") = static_cast<int>(ZDEDUP_F_STORED);
  m.attr("F_EXCLUSIVE") = static_cast<int>(ZDEDUP_F_EXCLUSIVE);
  m.attr("F_HIT") = static_cast<int>(ZDEDUP_F_HIT);
  m.attr("F_HASHED") = static_cast<int>(ZDEDUP_F_HASHED);
  m.attr("F_GHOST") = static_cast<int>(ZDEDUP_F_GHOST);
  m.attr("EV_STORE") = static_cast<int>(ZDEDUP_EV_STORE);
  m.attr("EV_LOAD") = static_cast<int>(ZDEDUP_EV_LOAD);
  m.attr("EV_INVALIDATE") = static_cast<int>(ZDEDUP_EV_INVALIDATE);
  m.attr("EV_WRITEBACK") = static_cast<int>(ZDEDUP_EV_WRITEBACK);
  // The type names the CLI prints, in code order from EV_STORE.
  py::list types;
  for (int t = ZDEDUP_EV_STORE; t <= ZDEDUP_EV_WRITEBACK; ++t)
    types.append(event_type_name(static_cast<std::uint8_t>(t)));
  m.attr("EVENT_TYPES") = types;

  m.def(
      "read_events",
      [](const std::string& path) {
        TraceInfo info;
        std::vector<Event> ev;
        {
          py::gil_scoped_release nogil;
          ev = read_trace(path, &info);
        }
        py::array_t<Event> out(static_cast<py::ssize_t>(ev.size()));
        std::memcpy(out.mutable_data(), ev.data(), ev.size() * sizeof(Event));
        py::dict meta;
        meta["path"] = text(info.path);
        meta["version"] = info.version;
        meta["created_ns"] = info.created_ns;
        meta["frames"] = info.frames;
        meta["events"] = info.events;
        meta["drops"] = info.drops;
        meta["meta"] = text(info.meta);
        // Whether the metadata is JSON of bounded depth, judged here so that
        // Python's own parser never sees input that would exhaust its stack.
        meta["meta_is_json"] = check_json(info.meta).problem.empty();
        if (info.damage)
          meta["damage"] = py::dict(py::arg("offset") = info.damage->offset,
                                    py::arg("frame") = info.damage->frame,
                                    py::arg("reason") = text(info.damage->reason));
        else
          meta["damage"] = py::none();
        return py::make_tuple(out, meta);
      },
      py::arg("path"), "Reads a trace: (structured numpy array of events, info dict)");

  m.def("report_json", &report_json_text, py::arg("paths"), py::arg("top") = 10,
        py::arg("global_scope") = false, py::arg("domains") = std::vector<std::string>{},
        py::call_guard<py::gil_scoped_release>());

  // report(DataFrame) and timeline(DataFrame): one call each, from the
  // columns (see events_from_columns).
  m.def(
      "report_columns_json",
      [](const py::dict& columns, std::size_t top, bool global) {
        std::vector<Event> ev = events_from_columns(columns);
        py::gil_scoped_release nogil;
        return json_text(report_json(summarize_events(ev, top, global)));
      },
      py::arg("columns"), py::arg("top") = 10, py::arg("global_scope") = false);

  m.def(
      "timeline",
      [](const py::dict& columns, std::uint64_t every, bool global) {
        std::vector<Event> ev = events_from_columns(columns);
        std::vector<TimelinePoint> pts;
        {
          py::gil_scoped_release nogil;
          pts = timeline(ev, every, global);
        }
        py::dict cols;
        auto col = [&](const char* name, auto get, auto tag) {
          using T = decltype(tag);
          py::array_t<T> arr(static_cast<py::ssize_t>(pts.size()));
          auto* d = arr.mutable_data();
          for (std::size_t i = 0; i < pts.size(); ++i) d[i] = static_cast<T>(get(pts[i]));
          cols[name] = arr;
        };
        col("ts_ns", [](const TimelinePoint& p) { return p.ts_ns; }, std::uint64_t{});
        col("events", [](const TimelinePoint& p) { return p.events; }, std::uint64_t{});
        col("logical_pages", [](const TimelinePoint& p) { return p.logical_pages; }, std::uint64_t{});
        col("distinct", [](const TimelinePoint& p) { return p.distinct; }, std::uint64_t{});
        col("saved_bytes", [](const TimelinePoint& p) { return p.saved_bytes; }, std::uint64_t{});
        col("dedup_ratio", [](const TimelinePoint& p) { return p.dedup_ratio; }, double{});
        return cols;
      },
      py::arg("columns"), py::arg("every"), py::arg("global_scope") = false);

  m.def("read_dedup_ratio", &read_dedup_ratio, py::arg("path"),
        "The dedup ratio of a JSON report or trace, checked as `zdedup gate` checks it");
  m.def(
      "read_report", [](const std::string& path) { return read_report(path); }, py::arg("path"),
      "The text of a JSON report, checked as `zdedup gate` checks it (size, depth, dedup_ratio)");

  m.def(
      "scan_json",
      [](const std::vector<int>& pids, const std::vector<std::string>& files, bool all,
         std::size_t top, std::size_t sample, const std::vector<std::string>& domains) {
        py::gil_scoped_release nogil;
        ScanOptions so;
        so.top_n = top;
        so.sample_every = sample;
        so.domains = domains;
        ScanRequest req;
        req.files = files;
        req.pids.assign(pids.begin(), pids.end());
        req.all = all;
        return json_text(to_json(scan(req, so)));
      },
      py::arg("pids"), py::arg("files"), py::arg("all") = false, py::arg("top") = 10,
      py::arg("sample") = 64, py::arg("domains") = std::vector<std::string>{});
}

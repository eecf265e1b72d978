#include "logger.h"

#include "errors.h"

namespace kiln::python {
namespace py = pybind11;
using Severity = ILogger::Severity;

namespace {

const char* severityName(Severity s) {
    switch (s) {
        case Severity::kError: return "ERROR";
        case Severity::kWarning: return "WARNING";
        case Severity::kInfo: return "INFO";
        case Severity::kVerbose: return "VERBOSE";
    }
    return "?";
}

//! Calls a Python override of log(severity, msg) on `self`; true when there was one. Exceptions it raises cannot
//! cross the noexcept ILogger::log, so they are reported the way Python reports errors in __del__.
//! `self` must have the static type that pybind11 registered the Python class under (ILogger or Logger): the
//! override lookup matches on it.
template <typename Registered>
bool callOverride(const Registered* self, Severity severity, const char* msg) {
    py::function override = py::get_override(self, "log");
    if (!override) return false;
    try {
        override(severity, toPyStr(msg));
    } catch (py::error_already_set& e) {
        e.discard_as_unraisable("kiln.ILogger.log");
    }
    return true;
}

//! Trampoline for Python subclasses of kiln.ILogger.
class PyILogger : public ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        py::gil_scoped_acquire gil;
        try {
            callOverride<ILogger>(this, severity, msg);
        } catch (...) {
            // Nothing may escape a logger; a failure to look up the override is dropped with the message.
        }
    }
};

//! Trampoline for Python subclasses of kiln.Logger: an overriding log() replaces the severity filter.
class PyLogger : public Logger {
public:
    using Logger::Logger;
    void log(Severity severity, const char* msg) noexcept override {
        py::gil_scoped_acquire gil;
        try {
            if (!callOverride<Logger>(this, severity, msg)) deliver(severity, msg);
        } catch (py::error_already_set& e) {
            e.discard_as_unraisable("kiln.Logger.log");
        } catch (...) {
        }
    }
};

}  // namespace

void Logger::log(Severity severity, const char* msg) noexcept {
    if (static_cast<int>(severity) > static_cast<int>(mMinSeverity)) return;
    py::gil_scoped_acquire gil;
    try {
        deliver(severity, msg);
    } catch (py::error_already_set& e) {
        e.discard_as_unraisable("kiln.Logger.log");
    } catch (...) {
    }
}

void Logger::deliver(Severity severity, const char* msg) {
    if (static_cast<int>(severity) > static_cast<int>(mMinSeverity)) return;
    if (!mCallback.is_none()) {
        mCallback(severity, toPyStr(msg));
        return;
    }
    py::object stderrFile = py::module_::import("sys").attr("stderr");
    if (stderrFile.is_none()) return;  // pythonw, or interpreter shutdown
    stderrFile.attr("write")(py::str("[kiln] {}: {}\n").format(severityName(severity), toPyStr(msg)));
}

ILogger& defaultLogger() {
    static auto* logger = new Logger(Severity::kWarning);  // leaked: may log during interpreter shutdown
    return *logger;
}

void bindLogger(py::module_& m) {
    py::class_<ILogger, PyILogger> ilogger(m, "ILogger", R"doc(
Receives Kiln's diagnostics. Subclass it and implement ``log(self, severity, msg)``; call ``ILogger.__init__(self)``
from your ``__init__``. ``log`` may be called from any thread that uses a Kiln object given the logger (with the GIL
held); exceptions it raises are reported as unraisable and otherwise ignored. The logger must outlive the objects
given it: they keep a reference to it.)doc");
    py::enum_<Severity>(ilogger, "Severity", "Lower values are more severe.")
        .value("ERROR", Severity::kError)
        .value("WARNING", Severity::kWarning)
        .value("INFO", Severity::kInfo)
        .value("VERBOSE", Severity::kVerbose)
        .export_values();
    ilogger.def(py::init<>())
        .def(
            "log",
            [](ILogger&, Severity, const std::string&) {
                throw py::type_error("kiln.ILogger.log is abstract: subclasses implement log(severity, msg)");
            },
            py::arg("severity"), py::arg("msg"), "Receives one message (one line); subclasses implement it.");

    py::class_<Logger, ILogger, PyLogger>(m, "Logger", R"doc(
The stock logger, as TensorRT's ``trt.Logger``: messages at ``min_severity`` or more severe are written to
``sys.stderr`` as ``[kiln] WARNING: msg``, or passed to ``callback(severity, msg)`` when one is given. Subclasses
may override ``log`` instead.)doc")
        .def(py::init<Severity, py::object>(), py::arg("min_severity") = Severity::kWarning,
             py::arg("callback") = py::none())
        .def_property("min_severity", &Logger::minSeverity, &Logger::setMinSeverity,
                      "Least severe level that is delivered.")
        .def(
            "log", [](Logger& self, Severity s, const std::string& msg) { self.Logger::log(s, msg.c_str()); },
            py::arg("severity"), py::arg("msg"), "Delivers one message when it passes min_severity.");
}

}  // namespace kiln::python

// Loggers for Python: kiln.ILogger (subclass it and implement log) and kiln.Logger (a minimum severity, printing to
// sys.stderr or calling a callback), both usable wherever the C++ API takes an ILogger.
#pragma once

#include <pybind11/pybind11.h>

#include "kiln/kiln.h"

namespace kiln::python {

//! kiln.Logger: messages at `minSeverity` or more severe go to `callback(severity, msg)` when one is set, else to
//! sys.stderr as "[kiln] WARNING: msg". Holds the GIL only while it delivers a message.
class Logger : public ILogger {
public:
    explicit Logger(Severity minSeverity = Severity::kWarning, pybind11::object callback = pybind11::none())
        : mMinSeverity(minSeverity), mCallback(std::move(callback)) {}
    void log(Severity severity, const char* msg) noexcept override;
    Severity minSeverity() const noexcept { return mMinSeverity; }
    void setMinSeverity(Severity s) noexcept { mMinSeverity = s; }

protected:
    void deliver(Severity severity, const char* msg);

private:
    Severity mMinSeverity;
    pybind11::object mCallback;
};

//! The logger used where Python code passes none: warnings and errors to sys.stderr. Never destroyed.
ILogger& defaultLogger();

//! `logger` when given, else defaultLogger().
inline ILogger& loggerOr(ILogger* logger) { return logger ? *logger : defaultLogger(); }

void bindLogger(pybind11::module_& m);

}  // namespace kiln::python

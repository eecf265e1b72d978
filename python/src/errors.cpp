#include "errors.h"

#include <array>

namespace kiln::python {
namespace py = pybind11;

namespace {

struct ErrorClass {
    ErrorCode code;
    const char* name;
    const char* doc;
};

constexpr std::array<ErrorClass, 7> kErrorClasses{{
    {ErrorCode::kInvalidArgument, "InvalidArgumentError",
     "A malformed argument: wrong dtype, bad shape, an output passed as input, a missing input."},
    {ErrorCode::kInvalidModel, "InvalidModelError", "A model or engine that is not valid (damaged bytes included)."},
    {ErrorCode::kUnsupported, "UnsupportedError", "Valid input that Kiln does not implement (op, dtype, backend)."},
    {ErrorCode::kNotFound, "NotFoundError", "A file or tensor name that does not exist."},
    {ErrorCode::kIoError, "IoError", "Reading or writing a file failed."},
    {ErrorCode::kOutOfRange, "OutOfRangeError",
     "An index or size outside its range, e.g. an input shape outside the optimization profile."},
    {ErrorCode::kInternal, "InternalError", "A bug in Kiln."},
}};

// Strong references owned by the module for the life of the process (extension modules are never unloaded).
PyObject* gBaseError = nullptr;
std::array<PyObject*, kErrorClasses.size()> gErrors{};

PyObject* classFor(ErrorCode code) {
    for (size_t i = 0; i < kErrorClasses.size(); ++i) {
        if (kErrorClasses[i].code == code) return gErrors[i];
    }
    return gBaseError;
}

void raisePython(const Status& status) {
    PyObject* cls = classFor(status.code());
    py::object error = py::reinterpret_borrow<py::object>(cls)(toPyStr(status.message()));
    error.attr("code") = py::cast(status.code());
    PyErr_SetObject(cls, error.ptr());
}

}  // namespace

py::str toPyStr(const std::string& text) {
    PyObject* s = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
    if (s == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(s);
}

void bindErrors(py::module_& m) {
    py::enum_<ErrorCode>(m, "ErrorCode", "Kiln's error codes (kiln/status.h); KilnError.code holds one.")
        .value("OK", ErrorCode::kOk)
        .value("INVALID_ARGUMENT", ErrorCode::kInvalidArgument)
        .value("INVALID_MODEL", ErrorCode::kInvalidModel)
        .value("UNSUPPORTED", ErrorCode::kUnsupported)
        .value("NOT_FOUND", ErrorCode::kNotFound)
        .value("IO_ERROR", ErrorCode::kIoError)
        .value("OUT_OF_RANGE", ErrorCode::kOutOfRange)
        .value("INTERNAL", ErrorCode::kInternal);

    gBaseError = PyErr_NewExceptionWithDoc(
        "kiln.KilnError",
        "An operation of Kiln failed. str(e) is Kiln's one-line message (it names the file, tensor, shape or "
        "version); e.code is the kiln.ErrorCode. Subclasses exist per code, e.g. kiln.NotFoundError.",
        PyExc_Exception, nullptr);
    if (gBaseError == nullptr) throw py::error_already_set();
    m.attr("KilnError") = py::reinterpret_borrow<py::object>(gBaseError);
    for (size_t i = 0; i < kErrorClasses.size(); ++i) {
        const std::string qualified = std::string("kiln.") + kErrorClasses[i].name;
        gErrors[i] = PyErr_NewExceptionWithDoc(qualified.c_str(), kErrorClasses[i].doc, gBaseError, nullptr);
        if (gErrors[i] == nullptr) throw py::error_already_set();
        m.attr(kErrorClasses[i].name) = py::reinterpret_borrow<py::object>(gErrors[i]);
    }

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const StatusError& e) {
            raisePython(e.status());
        }
    });
}

}  // namespace kiln::python

// kiln._kiln: the Python binding of Kiln's public C++ API (include/kiln/kiln.h). The package kiln re-exports it.
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logger.h"

namespace py = pybind11;

namespace kiln::python {

// os.fsencode: file names that are not valid UTF-8 (surrogate-escaped in Python) reach the OS as the same bytes.
std::string pathArg(py::handle path) {
    return py::module_::import("os").attr("fsencode")(path).cast<py::bytes>().cast<std::string>();
}

}  // namespace kiln::python

PYBIND11_MODULE(_kiln, m) {
    m.doc() = "Kiln: ONNX model to optimized engine to inference, with TensorRT's Python API shape.";
    m.attr("__version__") = KILN_VERSION;
    kiln::python::bindErrors(m);
    kiln::python::bindLogger(m);
    kiln::python::bindArrays(m);
    kiln::python::bindBuilder(m);
    kiln::python::bindRuntime(m);
}

// The pieces of the kiln._kiln extension module, one bind function per area of kiln/kiln.h.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace kiln::python {

//! A path argument: str or os.PathLike.
std::string pathArg(pybind11::handle path);

void bindBuilder(pybind11::module_& m);
void bindRuntime(pybind11::module_& m);

}  // namespace kiln::python

// Structural comparison of two IR graphs, for round-trip tests and tools.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::plan {

//! Structural equality of two graphs (names, dtypes, shapes, constants' bytes, nodes, attributes recursively,
//! value references including outer-scope captures, inputs/outputs, opsets). Returns the first difference, or an
//! empty string when equal.
std::string diffGraphs(const ir::Graph& a, const ir::Graph& b);

}  // namespace kiln::plan

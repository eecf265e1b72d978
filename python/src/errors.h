// Kiln's Status → Python exceptions: kiln.KilnError and one subclass per ErrorCode, carrying Kiln's message.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <string>
#include <utility>

#include "kiln/status.h"

namespace kiln::python {

//! A failed Status on its way to Python; the translator registered by bindErrors turns it into the kiln exception
//! for its code. Holds no Python object, so it may be thrown while the GIL is released.
class StatusError : public std::exception {
public:
    explicit StatusError(Status status) : mStatus(std::move(status)) {}
    const Status& status() const noexcept { return mStatus; }
    const char* what() const noexcept override { return mStatus.message().c_str(); }

private:
    Status mStatus;
};

inline void check(const Status& status) {
    if (!status) throw StatusError(status);
}

template <typename T>
T unwrap(Result<T> result) {
    if (!result) throw StatusError(result.status());
    return std::move(result).value();
}

//! `text` as a Python str; bytes that are not UTF-8 (a file name, say) become U+FFFD instead of failing.
pybind11::str toPyStr(const std::string& text);

//! Registers kiln.ErrorCode, kiln.KilnError and its subclasses, and the StatusError translator.
void bindErrors(pybind11::module_& m);

}  // namespace kiln::python

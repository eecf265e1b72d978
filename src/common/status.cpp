#include "kiln/status.h"

#include <algorithm>

namespace kiln {

const char* errorCodeName(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::kOk: return "ok";
        case ErrorCode::kInvalidArgument: return "invalid argument";
        case ErrorCode::kInvalidModel: return "invalid model";
        case ErrorCode::kUnsupported: return "unsupported";
        case ErrorCode::kNotFound: return "not found";
        case ErrorCode::kIoError: return "I/O error";
        case ErrorCode::kOutOfRange: return "out of range";
        case ErrorCode::kInternal: return "internal error";
    }
    return "unknown error";
}

namespace {

bool isControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

}  // namespace

std::string escapeControlChars(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (!isControl(c)) {
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else {
            static const char kHex[] = "0123456789abcdef";
            const auto u = static_cast<unsigned char>(c);
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

Status::Status(ErrorCode code, std::string message) {
    if (code == ErrorCode::kOk) return;
    if (std::any_of(message.begin(), message.end(), isControl)) message = escapeControlChars(message);
    mState = std::make_shared<const State>(State{code, std::move(message)});
}

const std::string& Status::message() const noexcept {
    static const std::string kEmpty;
    return mState ? mState->message : kEmpty;
}

Status Status::withContext(const std::string& context) const {
    if (isOk()) return *this;
    return {code(), context + ": " + message()};
}

Status invalidArgument(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }
Status invalidModel(std::string message) { return {ErrorCode::kInvalidModel, std::move(message)}; }
Status unsupported(std::string message) { return {ErrorCode::kUnsupported, std::move(message)}; }
Status notFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
Status ioError(std::string message) { return {ErrorCode::kIoError, std::move(message)}; }
Status outOfRange(std::string message) { return {ErrorCode::kOutOfRange, std::move(message)}; }
Status internalError(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

}  // namespace kiln

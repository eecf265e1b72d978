// Kiln's one error model: functions that can fail return `Status` or `Result<T>`.
//
// A `Status` is one null pointer when OK; a failure carries a code and a one-line message that names the thing
// (file, node, input, shape, version). Both types are [[nodiscard]]; propagate them with KILN_RETURN_IF_ERROR and
// KILN_ASSIGN_OR_RETURN. Thread safety: values, no shared state.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kiln {

enum class ErrorCode {
    kOk = 0,
    kInvalidArgument,  //!< Caller passed something malformed (bad shape, bad attribute, wrong dtype).
    kInvalidModel,     //!< The model file is not valid ONNX or violates the ONNX spec.
    kUnsupported,      //!< Valid input that Kiln does not implement (op, dtype, attribute value).
    kNotFound,         //!< A file, tensor name or external data file is missing.
    kIoError,          //!< Reading or writing a file failed.
    kOutOfRange,       //!< An index or size outside its allowed range.
    kInternal,         //!< A bug in Kiln.
};

//! Human name of an error code ("invalid model", ...).
const char* errorCodeName(ErrorCode code) noexcept;

//! `text` with control characters escaped ("\n", "\t", "\x1b"), so a message built from names found in a model
//! stays on one line. Status applies it to every message.
std::string escapeControlChars(std::string_view text);

class [[nodiscard]] Status {
public:
    Status() noexcept = default;
    //! `message` is kept on one line (see escapeControlChars).
    Status(ErrorCode code, std::string message);

    static Status ok() noexcept { return {}; }
    bool isOk() const noexcept { return mState == nullptr; }
    explicit operator bool() const noexcept { return isOk(); }
    ErrorCode code() const noexcept { return mState ? mState->code : ErrorCode::kOk; }
    //! The one-line message, empty when OK.
    const std::string& message() const noexcept;
    //! "message" prefixed with context: `withContext("node 3 (Conv 'conv1')")` → "node 3 (...): message".
    Status withContext(const std::string& context) const;
    //! Marks an error as seen without handling it (for cleanup paths).
    void ignore() const noexcept {}

private:
    struct State {
        ErrorCode code;
        std::string message;
    };
    std::shared_ptr<const State> mState;
};

//! Either a value or a failed Status.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : mData(std::move(value)) {}         // NOLINT(google-explicit-constructor)
    Result(Status status) : mData(std::move(status)) {}  // NOLINT(google-explicit-constructor)

    bool isOk() const noexcept { return mData.index() == 0; }
    explicit operator bool() const noexcept { return isOk(); }
    Status status() const { return isOk() ? Status::ok() : std::get<1>(mData); }
    T& value() & { return std::get<0>(mData); }
    const T& value() const& { return std::get<0>(mData); }
    T&& value() && { return std::get<0>(std::move(mData)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::variant<T, Status> mData;
};

// Convenience constructors.
Status invalidArgument(std::string message);
Status invalidModel(std::string message);
Status unsupported(std::string message);
Status notFound(std::string message);
Status ioError(std::string message);
Status outOfRange(std::string message);
Status internalError(std::string message);

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

#define KILN_RETURN_IF_ERROR(expr)                   \
    do {                                             \
        ::kiln::Status kilnStatus_ = (expr);         \
        if (!kilnStatus_.isOk()) return kilnStatus_; \
    } while (false)

#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                             \
    if (!tmp.isOk()) return tmp.status();          \
    lhs = std::move(tmp).value()

#define KILN_ASSIGN_OR_RETURN(lhs, expr) KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kilnResult_, __LINE__), lhs, expr)

//! Fails with kInvalidArgument and a formatted message when `cond` is false.
#define KILN_CHECK_ARG(cond, msg)                         \
    do {                                                  \
        if (!(cond)) return ::kiln::invalidArgument(msg); \
    } while (false)

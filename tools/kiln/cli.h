// What every `kiln` subcommand shares: exit codes, the one-line error, the logger, and the registration of
// subcommands (one file each: cmd_*.cpp).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <mutex>
#include <string>

#include "kiln/kiln.h"

namespace kiln::cli {

//! Exit codes of every subcommand (docs/cli.md).
enum ExitCode : int {
    kExitOk = 0,
    kExitNo = 1,     //!< The command ran and its answer is no: `compare` mismatch, `check` found unsupported nodes.
    kExitUsage = 2,  //!< Bad command line: unknown flag, malformed value (shape, unit, number).
    kExitError = 3,  //!< It could not be done: missing or unreadable file, failed build, input outside a profile.
};

//! Prints "kiln: error: <message>" on stderr (one line); returns kExitError.
int fail(const Status& status);
//! The same for command-line mistakes; returns kExitUsage.
int usage(const std::string& message);
//! "kiln: warning: <message>" on stderr.
void warn(const std::string& message);

//! Thrown by the option-parsing helpers for a malformed value; main turns it into usage(message).
struct UsageError {
    std::string message;
};

//! The ILogger of the command: warnings always (stderr), info/verbose with --verbose. Errors are not printed: the
//! failing call returns the same message as a Status, which the command prints once. An optional observer sees
//! every line (the build progress display reads the builder's phases from it).
class CliLogger final : public ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override;
    void setVerbose(bool verbose) { mVerbose = verbose; }
    bool verbose() const { return mVerbose; }
    void setObserver(std::function<void(Severity, const std::string&)> observer);

private:
    std::mutex mMutex;
    bool mVerbose = false;
    std::function<void(Severity, const std::string&)> mObserver;
};

//! The logger every command uses (one process, one command).
CliLogger& logger();

//! A subcommand's work, run after parsing; returns the exit code.
using Handler = std::function<int()>;

//! Each cmd_*.cpp registers its subcommand on `app` and returns its handler, called when that subcommand was given.
Handler addCheckCommand(CLI::App& app);
Handler addRunCommand(CLI::App& app);
Handler addBuildCommand(CLI::App& app);
Handler addBenchCommand(CLI::App& app);
Handler addInferCommand(CLI::App& app);
Handler addInspectCommand(CLI::App& app);
Handler addCompareCommand(CLI::App& app);
Handler addExecCommand(CLI::App& app);

//! True when the stream is a terminal (live progress, colours are off otherwise).
bool isTerminal(int fd);

//! Fails naming `path` when it is not a readable regular file; `what` says what it is ("model", "engine").
Status checkReadable(const std::string& path, const std::string& what);
//! Fails naming `path` when a file cannot be created there (missing or unwritable folder).
Status checkWritable(const std::string& path, const std::string& what);

}  // namespace kiln::cli

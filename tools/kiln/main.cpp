// kiln: the command-line tool. One subcommand per file (cmd_*.cpp); shared helpers beside them.
//
//   kiln build model.onnx -o model.engine [--fp16] [--shapes input:8x3x224x224]   build (or reuse) an engine
//   kiln bench model.engine|model.onnx [--iterations 100 --duration 5 --streams 2] performance report
//   kiln infer model.engine a.jpg b.png [--labels l.txt] [--mask-dir masks/]     run on images or .npy inputs
//   kiln inspect model.engine [--json] [--profile]                               header, I/O, layers, timings
//   kiln compare model.onnx model.engine                                         engine vs reference executor
//   kiln check model.onnx                                                        every unsupported node at once
//   kiln run model.onnx --input x=in.pb                                          reference executor, raw
//   kiln exec --onnx=model.onnx --shapes=input:4x3x224x224 --fp16                trtexec's flags
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "cli.h"

using namespace kiln;
using namespace kiln::cli;

namespace {

constexpr const char* kFooter =
    "Exit codes: 0 success; 1 the answer is no (compare found a mismatch, check found unsupported nodes);\n"
    "2 bad command line (unknown flag, malformed value); 3 it could not be done (missing file, failed build).\n"
    "Run `kiln <command> --help` for the flags of a command; docs/cli.md has examples.";

int runCli(int argc, char** argv) {
    CLI::App app{"Kiln: ONNX to engine compiler and runtime", "kiln"};
    app.require_subcommand(1);
    app.fallthrough();
    app.footer(kFooter);
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Print the library's info and verbose log lines on stderr");
    std::map<std::string, Handler> handlers;
    auto add = [&](const char* name, Handler h) { handlers[name] = std::move(h); };
    add("check", addCheckCommand(app));
    add("run", addRunCommand(app));
    add("build", addBuildCommand(app));
    add("bench", addBenchCommand(app));
    add("infer", addInferCommand(app));
    add("inspect", addInspectCommand(app));
    add("compare", addCompareCommand(app));
    add("exec", addExecCommand(app));
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);  // --help
    } catch (const CLI::ParseError& e) {
        std::string hint = "; `kiln --help` lists the commands";
        for (CLI::App* sub : app.get_subcommands()) hint = "; `kiln " + sub->get_name() + " --help` lists its flags";
        return usage(e.what() + hint);
    } catch (const UsageError& e) {
        return usage(e.message);
    }
    logger().setVerbose(verbose);
    for (CLI::App* sub : app.get_subcommands()) return handlers.at(sub->get_name())();
    return usage("no command given; `kiln --help` lists them");
}

}  // namespace

int main(int argc, char** argv) {
    // Kiln reports failures as Status; this is the last resort for what still throws (std::filesystem, allocation).
    try {
        return runCli(argc, argv);
    } catch (const UsageError& e) {
        return usage(e.message);
    } catch (const std::exception& e) {
        return fail(internalError(std::string("unexpected exception: ") + e.what()));
    }
}

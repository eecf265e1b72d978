// kiln exec: the subcommand; its flags are trtexec's, parsed by applyTrtexecFlag (exec_flags.cpp).
#include "cli.h"
#include "exec.h"

namespace kiln::cli {

namespace {

std::string flagTable() {
    std::string mapped;
    std::string noEffect;
    std::string unsupportedList;
    for (const TrtFlag& f : trtexecFlags()) {
        const std::string line = "  --" + std::string(f.name) + ": " + f.note + "\n";
        switch (f.kind) {
            case TrtFlagKind::kMapped: mapped += line; break;
            case TrtFlagKind::kNoEffect: noEffect += line; break;
            case TrtFlagKind::kUnsupported: unsupportedList += line; break;
        }
    }
    return "trtexec flags and what they become in Kiln:\n" + mapped + "Accepted with a warning (no effect here):\n" +
           noEffect + "Refused (the result would differ):\n" + unsupportedList +
           "Example (NVIDIA's benchmarking guide, unchanged):\n"
           "  kiln exec --onnx=resnet50.onnx --shapes=input:4x3x224x224 --fp16 --noDataTransfers --useCudaGraph "
           "--useSpinWait";
}

}  // namespace

Handler addExecCommand(CLI::App& app) {
    auto args = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand("exec", "trtexec's command line: build and/or load, then benchmark");
    // Every argument is trtexec's: collected unparsed and mapped by applyTrtexecFlag, which names unknown flags.
    cmd->allow_extras();
    cmd->fallthrough(false);
    cmd->footer(flagTable());
    return [cmd, args] {
        ExecArgs a;
        a.build.tf32 = true;                    // trtexec allows TF32 unless --noTF32
        a.build.workspacePlainUnit = 1 << 20;   // --memPoolSize=workspace:N means MiB
        a.build.precisionConstraints = "none";  // trtexec's default
        a.commandLine = "kiln exec";
        for (const std::string& arg : cmd->remaining()) {
            a.commandLine += " " + arg;
            const Status s = applyTrtexecFlag(arg, a);
            if (!s) return usage(s.message());
        }
        if (Status s = checkTrtexecArgs(a); !s) return usage(s.message());
        return runExec(a);
    };
}

}  // namespace kiln::cli

// Child process for the crash tests: quarantines argv[3] into vault argv[2], and SIGKILLs
// itself right after step argv[4].
import { Quarantine } from "../../src/quarantine.js";
const [vault, file, crashAt] = process.argv.slice(2);
new Quarantine(vault!).add(file!, {
  detections: ["Test.Crash"],
  rulesVersion: "v1",
  onStep: (step) => {
    if (step === crashAt) process.kill(process.pid, "SIGKILL");
  },
});
process.stdout.write("done\n");

// `radfleet doctor [--json]`.
import { doctor, formatDoctor } from "../../trainer/backend/index.js";

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "usage: radfleet doctor [--json]\n\nWhich tensor backends load here, their versions and threads; for each that does not, why and the command that fixes it.",
    );
    return 0;
  }
  const bad = argv.filter((a) => a !== "--json");
  if (bad.length) {
    console.error(
      `radfleet doctor: unknown argument ${JSON.stringify(bad[0])}; usage: radfleet doctor [--json]`,
    );
    return 2;
  }
  const report = await doctor();
  console.log(argv.includes("--json") ? JSON.stringify(report, null, 2) : formatDoctor(report));
  return 0;
}

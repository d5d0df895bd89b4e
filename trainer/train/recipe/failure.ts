// The one error the recipe treats as final: a failure a restart cannot fix (a spec the data or model
// contradicts, too many non-finite steps, diverged replicas). The trainer exits with the
// permanent-failure code instead of being restarted.
export class TrainingFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingFailure";
  }
}

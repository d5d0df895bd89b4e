// How a worker connects to its run's coordinator.

export interface ClientTls {
  /** PEM CA that signed the coordinator's certificate. */
  ca: Buffer;
  /** Client certificate and key, when the coordinator requires them. */
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectOptions {
  /** Coordinator host:port. */
  address: string;
  runId: string;
  token: string;
  workerId: string;
  /** This worker's collective (data-plane) endpoint, host:port, sent with every join. */
  collectiveAddress: string;
  tls?: ClientTls;
  /** Aborting it closes the client. */
  signal?: AbortSignal;
  /** How long connect() waits for the session to be accepted. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline of the short calls (report, latest checkpoint, progress). Default 30 s. */
  callTimeoutMs?: number;
  /** How long a lost session is retried before the client gives up and closes. Default 60 s. */
  reconnectForMs?: number;
  /**
   * Asked before every heartbeat; while it answers false no heartbeat is sent, so the coordinator
   * declares this worker failed after its heartbeat timeout. A session on its own thread uses it to
   * report a stuck main thread (trainer/train/coordination-thread.ts). Default: always alive.
   */
  alive?: () => boolean;
}

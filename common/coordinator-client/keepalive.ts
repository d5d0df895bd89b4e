// gRPC keepalive between trainers and the coordinator, one setting for both ends.
//
// Whether a worker is alive is decided by its session stream closing (a dead process) and by
// heartbeats (a hung one; the timeout is the spec's rendezvous.heartbeatTimeoutSeconds). Keepalive
// pings only clear connections that went half-open without a FIN (a vanished node). A trainer's
// event loop cannot answer a ping while a TensorFlow.js step runs synchronously, so the timeout
// must outlast the longest step: a worker blocked for up to 40 s keeps its connection, and a
// half-open one is closed within a minute.
export const KEEPALIVE_TIME_MS = 20_000;
export const KEEPALIVE_TIMEOUT_MS = 40_000;

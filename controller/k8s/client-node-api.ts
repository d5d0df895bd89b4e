// KubeApi over @kubernetes/client-node. Loaded only through kube-transport.ts, because the 2.x
// line pulls in undici 8, which needs Node >= 22; on Node 20 the REST transport is used instead.
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from "@kubernetes/client-node";
import { CRD_GROUP, CRD_PLURAL, CRD_VERSION } from "../../common/spec/index.js";
import { ignoreStatus, orUndefined, type KubeApi } from "./kube-api.js";
import type { TrainingRunObject } from "./types.js";

export function clientNodeApi(kubeconfigPath?: string): KubeApi {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coord = kc.makeApiClient(CoordinationV1Api);
  const watcher = new Watch(kc);
  const crd = { group: CRD_GROUP, version: CRD_VERSION, plural: CRD_PLURAL };
  return {
    async listRuns(namespace) {
      const res = (
        namespace
          ? await custom.listNamespacedCustomObject({ ...crd, namespace })
          : await custom.listClusterCustomObject(crd)
      ) as { items: TrainingRunObject[] };
      return res.items;
    },
    getRun: (namespace, name) =>
      orUndefined(
        custom.getNamespacedCustomObject({ ...crd, namespace, name }) as Promise<TrainingRunObject>,
      ),
    async replaceRunStatus(run) {
      return (await custom.replaceNamespacedCustomObjectStatus({
        ...crd,
        namespace: run.metadata.namespace,
        name: run.metadata.name,
        body: run,
      })) as TrainingRunObject;
    },
    deleteRun: (namespace, name) =>
      ignoreStatus(
        custom.deleteNamespacedCustomObject({ ...crd, namespace, name, propagationPolicy: "Background" }),
        404,
      ),
    async listPods(namespace, labelSelector) {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    createPod: (pod) =>
      ignoreStatus(core.createNamespacedPod({ namespace: pod.metadata!.namespace!, body: pod }), 409),
    deletePod: (namespace, name, gracePeriodSeconds) =>
      ignoreStatus(core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds }), 404),
    getService: (namespace, name) => orUndefined(core.readNamespacedService({ namespace, name })),
    createService: (svc) =>
      ignoreStatus(core.createNamespacedService({ namespace: svc.metadata!.namespace!, body: svc }), 409),
    getConfigMap: (namespace, name) => orUndefined(core.readNamespacedConfigMap({ namespace, name })),
    createConfigMap: (cm) =>
      ignoreStatus(core.createNamespacedConfigMap({ namespace: cm.metadata!.namespace!, body: cm }), 409),
    async replaceConfigMap(cm) {
      await core.replaceNamespacedConfigMap({
        namespace: cm.metadata!.namespace!,
        name: cm.metadata!.name!,
        body: cm,
      });
    },
    getSecret: (namespace, name) => orUndefined(core.readNamespacedSecret({ namespace, name })),
    createSecret: (s) =>
      ignoreStatus(core.createNamespacedSecret({ namespace: s.metadata!.namespace!, body: s }), 409),
    async createEvent(ev) {
      await core.createNamespacedEvent({ namespace: ev.metadata.namespace!, body: ev });
    },
    getLease: (namespace, name) => orUndefined(coord.readNamespacedLease({ namespace, name })),
    createLease: (lease) =>
      coord.createNamespacedLease({ namespace: lease.metadata!.namespace!, body: lease }),
    replaceLease: (lease) =>
      coord.replaceNamespacedLease({
        namespace: lease.metadata!.namespace!,
        name: lease.metadata!.name!,
        body: lease,
      }),
    watch: (path, query, onEvent, done) =>
      watcher.watch(
        path,
        query,
        (type: string, obj: unknown) => onEvent(type as Parameters<typeof onEvent>[0], obj),
        done,
      ),
  };
}

export { Admission, QueueFull } from './admission.ts';
export { bill, countPromptTokens, countCompletionTokens, type Bill, type CountedTokens } from './billing.ts';
export { catalog, modelFor, type EngineModel, type CatalogOptions } from './catalog.ts';
export { ReplicaPool, fetchEngineModels, replicaUrls, type Replica, type ReplicaState, type ProbePolicy } from './replica-pool.ts';
export { createNodeServer, type NodeServerOptions } from './server.ts';

export { Admission, QueueFull } from './admission.ts';
export { bill, countPromptTokens, countCompletionTokens, type Bill, type CountedTokens } from './billing.ts';
export { catalog, modelFor, fetchEngineModels, type EngineModel, type CatalogOptions } from './catalog.ts';
export { createNodeServer, type NodeServerOptions } from './server.ts';

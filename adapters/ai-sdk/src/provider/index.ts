export { createRoutstr, routstr, type RoutstrProvider } from './routstr-provider.ts';
export { RoutstrLanguageModel } from './routstr-language-model.ts';
export { RoutstrCallError, toRoutstrCallError } from './routstr-error.ts';

export { createRoutstr, routstr, RoutstrLanguageModel, RoutstrCallError, type RoutstrProvider } from './provider/index.ts';
export { resolveRoutstrSettings, ConfigError, receiptJson, RoutstrConfigError, type RoutstrSettings, type OrderSettings } from '@routstr-kit/core';

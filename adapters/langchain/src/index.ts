export { ChatRoutstr, RoutstrError, type ChatRoutstrFields } from './chat-routstr/index.ts';
export { MarketFetch, resolveRoutstrSettings, ConfigError, receiptJson, RoutstrConfigError, type RoutstrSettings, type OrderSettings } from '@routstr-kit/core';

export { ChatRoutstr, RoutstrError, type ChatRoutstrFields } from './chat-routstr/index.ts';
export { MarketFetch, settingsFromEnv, receiptJson, RoutstrConfigError, type RoutstrSettings, type OrderSettings } from '@routstr-kit/core';

export { ChatRoutstr, type ChatRoutstrFields } from './chat-routstr.ts';
export { RoutstrError, toRoutstrError } from './routstr-error.ts';

export { createMcpServer, SERVER_NAME, SERVER_VERSION } from './server.ts';
export { createContext, openContext, type McpContext } from './context.ts';
export { startHttpServer, type RunningHttp } from './http.ts';
export { parseConfig, ConfigError, USAGE, DEFAULT_MINTS, type McpConfig, type McpBudget } from './config.ts';
export { runMcp } from './main.ts';
export { ToolError } from './tool-error.ts';
export { getMarketPrice, getOrderBook, listModels, askView, PRICE_UNITS } from './market-tools.ts';
export { chatCompletion, placeOrder, orderView, cancelOrder, listOrders, waitForOrder, receiptView, type OrderView } from './order-tools.ts';
export { walletBalance, walletReceive, walletFund } from './wallet-tools.ts';

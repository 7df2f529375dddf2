/** Errors of the orders module; `code` is stable and safe to branch on. */
export class OrderError extends Error {
  readonly code: string;
  readonly orderId: string | undefined;
  constructor(code: string, message: string, options: { orderId?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.orderId = options.orderId;
    this.name = 'OrderError';
  }
}

/** The limit order reached its deadline before the book crossed its limit; nothing was spent. */
export class OrderExpired extends OrderError {
  constructor(orderId: string) {
    super('order_expired', `limit order ${orderId} expired before the book reached its limit`, { orderId });
    this.name = 'OrderExpired';
  }
}

/** The limit order was cancelled; nothing was spent. */
export class OrderCancelled extends OrderError {
  constructor(orderId: string) {
    super('order_cancelled', `limit order ${orderId} was cancelled`, { orderId });
    this.name = 'OrderCancelled';
  }
}

/** The limit order could not fill (budget, funds, or a fill interrupted after it was paid: see `spentSat`). */
export class OrderFailed extends OrderError {
  /** Sats the failed fill took (0 unless a fill was paid and its answer lost). */
  readonly spentSat: number;
  constructor(orderId: string, code: string, message: string, spentSat = 0, cause?: unknown) {
    super(code, message, { orderId, cause });
    this.name = 'OrderFailed';
    this.spentSat = spentSat;
  }
}

/** A batch input that cannot run (bad JSONL, duplicate custom_id, wrong model). */
export class InvalidBatch extends OrderError {
  constructor(message: string) {
    super('invalid_batch', message);
    this.name = 'InvalidBatch';
  }
}

/** A stored order whose row cannot be read (a value out of range, broken JSON); the rest of the store reads on. */
export class UnreadableOrder extends OrderError {
  readonly problem: string;
  constructor(orderId: string, problem: string) {
    super('unreadable_order', `stored order ${orderId.slice(0, 80)} cannot be read: ${problem}`, { orderId });
    this.name = 'UnreadableOrder';
    this.problem = problem;
  }
}

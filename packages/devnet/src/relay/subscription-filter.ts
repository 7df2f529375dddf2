import type { Filter } from 'nostr-tools';
import { matchFilters } from 'nostr-tools/filter';
import type { Event } from 'nostr-tools';

/**
 * Tracks each connection's open subscriptions so live broadcasts can be matched on the whole
 * NIP-01 filter. `@nostr-relay/core` matches live events on ids/authors/kinds/since/until only,
 * so a subscriber to `{'#d': ['x']}` would otherwise receive every event of the kind.
 */
export class SubscriptionFilter {
  readonly #filters = new Map<string, Filter[]>();

  /** Records a client message; REQ opens (or replaces) a subscription, CLOSE ends one. */
  observeIncoming(message: unknown): void {
    if (!Array.isArray(message) || typeof message[1] !== 'string') return;
    if (message[0] === 'REQ') this.#filters.set(message[1], message.slice(2) as Filter[]);
    else if (message[0] === 'CLOSE') this.#filters.delete(message[1]);
  }

  /** Whether an outgoing relay message may go out (false only for an EVENT its subscription does not match). */
  allowsOutgoing(data: string): boolean {
    if (!data.startsWith('["EVENT",')) return true;
    const [, subscriptionId, event] = JSON.parse(data) as [string, string, Event];
    const filters = this.#filters.get(subscriptionId);
    return filters === undefined || matchFilters(filters, event);
  }
}

// Test helper: reads /api/stream and hands out its events; waiting is on events, never on timers.

export interface StreamEvent {
  readonly event: string;
  readonly data: unknown;
}

export interface StreamClient {
  /** Resolves with the first event (buffered or future) that `match` accepts; earlier ones are consumed. */
  next(match?: (e: StreamEvent) => boolean): Promise<StreamEvent>;
  /** Comment lines seen (`: connected`, `: ping`). */
  readonly comments: string[];
  close(): void;
}

/** Connects to an SSE endpoint; resolves once the response headers arrived. */
export async function openStream(url: string): Promise<StreamClient & { readonly contentType: string | null }> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
  const buffered: StreamEvent[] = [];
  const comments: string[] = [];
  let waiter: { match: (e: StreamEvent) => boolean; resolve: (e: StreamEvent) => void; reject: (e: Error) => void } | undefined;
  let ended: Error | undefined;
  const offer = (e: StreamEvent): void => {
    if (waiter && waiter.match(e)) {
      const w = waiter;
      waiter = undefined;
      w.resolve(e);
    } else if (!waiter) buffered.push(e);
  };
  void (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
        let cut;
        while ((cut = text.indexOf('\n\n')) >= 0) {
          const frame = text.slice(0, cut);
          text = text.slice(cut + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') offer({ event, data: JSON.parse(data) as unknown });
        }
      }
      ended = new Error('stream ended');
    } catch (error) {
      ended = error as Error;
    }
    waiter?.reject(ended);
  })();
  return {
    contentType: res.headers.get('content-type'),
    comments,
    next(match = () => true) {
      while (buffered.length > 0) {
        const e = buffered.shift()!;
        if (match(e)) return Promise.resolve(e);
      }
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        waiter = { match, resolve, reject };
      });
    },
    close: () => abort.abort(),
  };
}

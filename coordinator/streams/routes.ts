// The routes GET /v1/stream/{instances,tasks,deployments}, as coordinator/routes.ts mounts them:
// validation of the filter and of where the client left off (the Last-Event-ID header, or
// `?lastEventId=` for clients that cannot set headers; the header wins), then the feed's stream.
import type { IncomingMessage } from 'node:http';
import { BloxError, InvalidInputError } from '../../core/errors.js';
import { validateCluster, validateEnvironmentName } from '../../core/store/inputs.js';
import { FEEDS, type FeedName } from './changes.js';
import type { LiveFeeds, StreamWriter } from './feeds.js';

/** The filter each feed takes. */
const SCOPE: Record<FeedName, 'cluster' | 'environment'> = { instances: 'cluster', tasks: 'cluster', deployments: 'environment' };

export interface StreamRoute {
  pattern: RegExp;
  methods: {
    GET: {
      query: string[];
      handler: (request: { query: URLSearchParams; raw: IncomingMessage }) => Promise<{ status: number; stream: StreamWriter }>;
    };
  };
}

export function streamRoutes(feeds: LiveFeeds | undefined): StreamRoute[] {
  return FEEDS.map((feed) => {
    const scopeName = SCOPE[feed];
    return {
      pattern: new RegExp(`^/v1/stream/${feed}$`),
      methods: {
        GET: {
          query: [scopeName, 'lastEventId'],
          handler: async ({ query, raw }) => {
            const text = query.get(scopeName);
            if (text === '') throw new InvalidInputError(scopeName, 'must not be empty');
            const scope = text === null ? undefined : scopeName === 'cluster' ? validateCluster(text) : validateEnvironmentName(text, 'environment');
            const header = raw.headers['last-event-id'];
            const lastEventId = (Array.isArray(header) ? header[0] : header) ?? query.get('lastEventId') ?? undefined;
            if (!feeds) throw new BloxError('Unavailable', 'live feeds are not enabled in this coordinator');
            const stream = await feeds.open({ feed, ...(scope !== undefined ? { scope } : {}), ...(lastEventId ? { lastEventId } : {}) });
            return { status: 200, stream };
          },
        },
      },
    };
  });
}

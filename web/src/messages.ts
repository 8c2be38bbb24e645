/** What the page says when the service refuses something: the XMPP error, in words, with the service's own text. */
import { XmppIqError } from '../../common/xmpp/iq-errors.ts';

export function refusal(node: string, err: unknown, doing: string): string {
  if (err instanceof XmppIqError) {
    // the service's own words, unless they only repeat the conditions ("not-allowed / closed-node")
    const why = err.text && !err.text.includes(err.condition) ? ` — ${err.text}` : '';
    switch (err.pubsub) {
      case 'closed-node':
      case 'not-in-roster-group':
      case 'presence-subscription-required':
        return `Refused: ${node} is open only to its members (${err.pubsub})${why}.`;
      case 'pending-subscription':
        return `Your subscription to ${node} still waits for the owner's approval${why}.`;
      case 'not-subscribed':
        return `Subscribe to ${node} first: its items are for subscribers${why}.`;
    }
    switch (err.condition) {
      case 'forbidden':
        return `Refused: this account may not ${doing} ${node} (forbidden)${why}.`;
      case 'not-authorized':
        return `Refused: ${node} is open only to its members (${err.pubsub ?? 'not-authorized'})${why}.`;
      case 'item-not-found':
        return `${node} does not exist or is hidden from this account${why}.`;
      case 'not-allowed':
        return `Refused: ${doing} ${node} is not allowed${why}.`;
      case 'remote-server-not-found':
      case 'service-unavailable':
        return `The alert service is not reachable right now (${err.condition})${why}.`;
      default:
        return `Could not ${doing} ${node}: ${err.condition}${why}.`;
    }
  }
  return `Could not ${doing} ${node}: ${err instanceof Error ? err.message : String(err)}.`;
}


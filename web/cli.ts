/** `voxnet web`: serve the web page (see web/server.ts). */
import { parseArgs } from 'node:util';
import { startWeb } from './server.ts';

export async function webCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        websocket: { type: 'string', default: process.env.VOXNET_WEB_WEBSOCKET },
        pubsub: { type: 'string', default: process.env.VOXNET_PUBSUB ?? 'pubsub.svom.fr' },
        host: { type: 'string', default: process.env.VOXNET_WEB_HOST ?? '127.0.0.1' },
        port: { type: 'string', default: process.env.VOXNET_WEB_PORT ?? '8080' },
        title: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`voxnet web: ${(err as Error).message}`);
    return 2;
  }
  if (values.help || !values.websocket) {
    (values.help ? console.log : console.error)(
      'usage: voxnet web --websocket ws://HOST:5280/xmpp-websocket [--pubsub pubsub.svom.fr] [--host 127.0.0.1] [--port 8080] [--title TEXT]\n' +
        '  serves the alert web page; the browser talks XMPP over that WebSocket (Prosody mod_websocket, ejabberd ejabberd_http ws)\n' +
        '  environment: VOXNET_WEB_WEBSOCKET, VOXNET_PUBSUB, VOXNET_WEB_HOST, VOXNET_WEB_PORT',
    );
    return values.help ? 0 : 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`voxnet web: --port must be a port number, got '${values.port}'`);
    return 2;
  }
  try {
    const web = await startWeb({ websocket: values.websocket, pubsub: values.pubsub!, host: values.host!, port, ...(values.title ? { title: values.title } : {}) });
    console.log(`VOXnet web page at ${web.url} (XMPP over ${values.websocket}, pubsub ${values.pubsub})`);
    await new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
    await web.stop();
    return 0;
  } catch (err) {
    console.error(`voxnet web: ${(err as Error).message}`);
    return 1;
  }
}

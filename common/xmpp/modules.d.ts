// Minimal typings for the xmpp.js packages we use (they ship none).
declare module '@xmpp/xml' {
  export class Element {
    name: string;
    attrs: Record<string, string>;
    children: (Element | string)[];
    parent: Element | null;
    constructor(name: string, attrs?: Record<string, string | undefined>);
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    text(t: string): Element;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    attr(name: string, value?: string): Element;
    c(name: string, attrs?: Record<string, string | undefined>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    cnode(child: Element): Element;
    append(...nodes: (Element | string)[]): Element;
    toString(): string;
    clone(): Element;
  }
  export type Node = Element | string;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (Node | Node[] | undefined | null | false)[]): Element;
  export class Parser {
    constructor();
    write(s: string): void;
    end(): void;
    on(ev: string, fn: (...a: any[]) => void): void;
  }
  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;
  export default xml;
}
declare module '@xmpp/client' {
  import type { Element } from '@xmpp/xml';
  export { xml } from '@xmpp/xml';
  export function client(opts: Record<string, unknown>): any;
  export function jid(s: string): any;
  export type { Element };
}
declare module '@xmpp/component' {
  export { xml } from '@xmpp/xml';
  export function component(opts: Record<string, unknown>): any;
  export function jid(s: string): any;
}
declare module '@xmpp/tls/lib/Socket.js' {
  const Socket: unknown;
  export default Socket;
}
declare module 'ltx/lib/parse.js' {
  import type { Element } from '@xmpp/xml';
  const parse: (s: string) => Element;
  export default parse;
}
declare module '@xmpp/connection' {
  const Connection: unknown;
  export default Connection;
}

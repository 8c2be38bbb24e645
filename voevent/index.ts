/**
 * VOEvent 2.0 library: parse, validate, build and summarise VOEvent packets.
 *
 * Broker / agents holding an xmpp.js element (no reparsing):
 *   const r = validateElement(el);           // schema + semantic, { valid, errors, warnings }
 *   const ev = fromElement(el);               // typed model
 * Publishers / CLI holding text:
 *   const r = validate(xml);                  // safe parse + fast schema + semantic
 *   const r2 = validate(xml, { engine: 'xsd' }); // libxml2 against our XSD
 *   const ev = parse(xml); const xml2 = build(ev); summary(ev);
 */
export * from './model.ts';
export { type Issue, type IssueKind, type Severity, type ValidationResult, formatIssue } from './issues.ts';
export {
  type XmlElement, type XmlNode, type TreeOptions, type Location, SourceElement, XmlSyntaxError,
  DEFAULT_MAX_BYTES, parseTree, serialize, locate,
} from './tree.ts';
export { localName } from '../common/xml.ts';
export { fromElement, parseElement, parse, VOEventParseError } from './parse.ts';
export { validate, validateElement, type ValidateOptions, type ValidateElementOptions } from './validate.ts';
export { fastValidateTree, isSchemaValidTree, type FastValidateOptions } from './fast-validate.ts';
export { semanticCheckTree, isIsoDateTime } from './semantic.ts';
export { xsdValidateText, xsdIsValid, SCHEMA_PATH } from './xsd.ts';
export { build, coordSystem20, type BuildOptions } from './build.ts';
export { summary, formatRadius } from './summary.ts';
export {
  type Ivorn, type CitationLink, parseIvorn, ivornProblem, isValidIvorn, streamId, localId, citationLinks, CitationIndex,
} from './ivorn.ts';
export {
  type Mission, type SvomInfo, type SwiftInfo, type FermiInfo, type LvkInfo, type IceCubeInfo, type MissionSummary,
  allParams, getParam, paramValue, paramNumber, paramBool, paramMap, detectMission, svom, swift, fermi, lvk, icecube,
  missionSummary,
} from './missions.ts';
export {
  type Relation, type Localisation, type AlertFacts, type RelationRule, type ThreadEntry, type ThreadState,
  RELATIONS, RELATION_RULES, EFFECTS, relationOf, factsOfVOEvent, factsOfJson, threadKeysOf, threadState, joinThreads, ThreadIndex, describeLocalisation,
} from './thread.ts';

/**
 * The VOXnet filter language (docs/filters.md): one small expression language
 * for what a subscriber wants — role, importance, VOEvent Params and Groups, JSON
 * fields, the alert's relation to its event, localisation area, and sky regions
 * (cone or MOC, with the probability inside for sky maps). The broker evaluates
 * it once per item and distinct filter before fan-out; the CLI, the notification
 * agent and the web page import the same code.
 */
export { FilterError, parseFilter, FIELDS, MAX_FILTER_LENGTH, type Expr, type Op, type Region } from './parse.ts';
export { Filter, Subject, compileFilter, subjectOf } from './evaluate.ts';

// A small client for Inferline's HTTP API. Every URL is relative to the page's own
// location, so the dashboard works at `/` and behind a proxy under `/some/prefix/`.

export function baseUrl() {
  return new URL('.', window.location.href.split('#')[0])
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), baseUrl())
}

// The API key, when the server requires one: kept in this tab's sessionStorage
// (gone when the tab closes), sent as `Authorization: Bearer` on every request and as
// `?api_key=` on WebSockets (browsers cannot set their headers).
const KEY_STORAGE = 'inferline.apiKey'
export const auth = { required: false, listeners: new Set() }

export function apiKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE) || ''
  } catch {
    return ''
  }
}

export function setApiKey(key) {
  if (key) window.sessionStorage.setItem(KEY_STORAGE, key.trim())
  else window.sessionStorage.removeItem(KEY_STORAGE)
  auth.required = false
  for (const listener of auth.listeners) listener(false)
}

function keyRequired() {
  auth.required = true
  for (const listener of auth.listeners) listener(true)
}

export function wsUrl(path) {
  const url = apiUrl(path)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const key = apiKey()
  if (key) url.searchParams.set('api_key', key)
  return url.toString()
}

// Whether the server answers without (or with the stored) key: false asks for one.
export async function checkKey() {
  const key = apiKey()
  const response = await fetch(apiUrl('api/v1/dashboard/snapshot'), {
    headers: key ? { Authorization: `Bearer ${key}` } : {},
  })
  if (response.status === 401) keyRequired()
  return response.status !== 401
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || `HTTP ${status}`)
    this.status = status
    this.code = error.code
    this.details = error.details
  }
}

async function request(method, path, { query, body } = {}) {
  const url = apiUrl(path)
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value)
  }
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json' }
  const key = apiKey()
  if (key) headers.Authorization = `Bearer ${key}`
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await response.json().catch(() => null)
  if (response.status === 401) keyRequired()
  if (!response.ok) throw new ApiError(response.status, data)
  return data
}

export const api = {
  listJobs: (filters) => request('GET', 'api/v1/jobs', { query: { limit: 100, ...filters } }),
  getJob: (id) => request('GET', `api/v1/jobs/${encodeURIComponent(id)}`),
  timeline: (id) => request('GET', `api/v1/jobs/${encodeURIComponent(id)}/events`),
  submitJob: (model, input, priority = 0) =>
    request('POST', 'api/v1/jobs', { body: { model, input, priority } }),
  cancelJob: (id) => request('DELETE', `api/v1/jobs/${encodeURIComponent(id)}`),
  retryJob: (id) => request('POST', `api/v1/jobs/${encodeURIComponent(id)}/retry`),
  listModels: () => request('GET', 'api/v1/models'),
  getModel: (name) => request('GET', `api/v1/models/${encodeURIComponent(name)}`),
  snapshot: () => request('GET', 'api/v1/dashboard/snapshot'),
  newsFeeds: () => request('GET', 'api/v1/news/feeds'),
  addNewsFeed: (url, intervalSeconds) =>
    request('POST', 'api/v1/news/feeds', { body: { url, interval_seconds: intervalSeconds } }),
  logsIncidents: (filters) =>
    request('GET', 'api/v1/logs/incidents', { query: { limit: 50, ...filters } }),
  resolveIncident: (id, resolution) =>
    request('POST', `api/v1/logs/incidents/${encodeURIComponent(id)}/resolve`, {
      body: { resolution },
    }),
  logsDeadLetters: (limit = 10) =>
    request('GET', 'api/v1/logs/dead-letters', { query: { limit } }),
  logsTemplates: (limit = 20) => request('GET', 'api/v1/logs/templates', { query: { limit } }),
  logsQuality: (date) => request('GET', 'api/v1/logs/reports/quality', { query: { date } }),
  logsAggregates: (since, until) =>
    request('GET', 'api/v1/logs/reports/aggregates', { query: { since, until } }),
}

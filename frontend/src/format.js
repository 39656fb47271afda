// Display helpers shared by the views.

export function ms(seconds) {
  if (seconds === null || seconds === undefined) return '–'
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`
  return `${seconds.toFixed(2)} s`
}

export function percent(rate) {
  if (rate === null || rate === undefined) return '–'
  return `${(rate * 100).toFixed(1)} %`
}

export function number(value, digits = 0) {
  if (value === null || value === undefined) return '–'
  return Number(value).toLocaleString('en', { maximumFractionDigits: digits })
}

export function time(iso) {
  if (!iso) return '–'
  return new Date(iso).toLocaleTimeString('en-GB', { hour12: false }) +
    '.' + String(new Date(iso).getMilliseconds()).padStart(3, '0')
}

export function json(value) {
  return JSON.stringify(value, null, 2)
}

export const FINISHED = ['succeeded', 'dead', 'cancelled', 'expired']
export const CANCELLABLE = ['queued', 'failed', 'running']
export const RETRYABLE = ['dead', 'cancelled', 'expired']
export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled', 'expired']

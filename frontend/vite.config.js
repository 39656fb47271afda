import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The build goes into the Python package, which serves it at `/`.
// `base: './'` makes every asset path relative, so the page works behind a
// reverse proxy under any path prefix (for example /inferline/).
export default defineConfig({
  plugins: [vue()],
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../src/inferline/dashboard/static', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev` proxies the API to a server started with `inferline serve --port 8765`.
    proxy: {
      '/api': { target: 'http://127.0.0.1:8765', ws: true },
      '/health': 'http://127.0.0.1:8765',
    },
  },
})

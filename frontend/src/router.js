import { createRouter, createWebHashHistory } from 'vue-router'
import OverviewView from './views/OverviewView.vue'
import JobsView from './views/JobsView.vue'
import JobDetailView from './views/JobDetailView.vue'
import ModelsView from './views/ModelsView.vue'
import SubmitView from './views/SubmitView.vue'
import NewsView from './views/NewsView.vue'
import LogsView from './views/LogsView.vue'

// Hash history: every deep link loads the same page, so no server-side fallback
// is needed and links keep working under a reverse-proxy path prefix.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', name: 'overview', component: OverviewView },
    { path: '/jobs', name: 'jobs', component: JobsView },
    { path: '/jobs/:id', name: 'job', component: JobDetailView, props: true },
    { path: '/models', name: 'models', component: ModelsView },
    { path: '/submit', name: 'submit', component: SubmitView },
    { path: '/news', name: 'news', component: NewsView },
    { path: '/logs', name: 'logs', component: LogsView },
  ],
})

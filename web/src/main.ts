/**
 * Entry point: the app's pages (segment at `/`, models at `/models`, monitor at `/monitor`, annotate at
 * `/annotate`, shadow traffic at `/shadow`) with history-based navigation. Pages are built once and kept, so going to the models page and back
 * keeps the images and results of the session; a page left is unmounted (the monitor stops polling, the annotate
 * page gives back the items it holds).
 */
import { AnnotatePage } from './annotate-page';
import { ModelsPage } from './models-page';
import { MonitorPage } from './monitor-page';
import { SegmentPage } from './segment-page';
import { ShadowPage } from './shadow-page';

interface Page {
  element: HTMLElement;
  mount(): void;
  unmount?(): void;
}

const ROUTES: Record<string, { title: string; create: () => Page }> = {
  '/': { title: 'Segment', create: () => new SegmentPage() },
  '/models': { title: 'Models', create: () => new ModelsPage() },
  '/monitor': { title: 'Monitor', create: () => new MonitorPage() },
  '/annotate': { title: 'Annotate', create: () => new AnnotatePage() },
  '/shadow': { title: 'Shadow traffic', create: () => new ShadowPage() },
};

const main = document.getElementById('main');
if (!main) throw new Error('index.html has no #main element');
const pages = new Map<string, Page>();
let current: Page | null = null;

function render(moveFocus: boolean): void {
  const path = location.pathname in ROUTES ? location.pathname : '/';
  const route = ROUTES[path];
  let page = pages.get(path);
  if (!page) {
    page = route.create();
    pages.set(path, page);
  }
  if (page !== current) {
    current?.unmount?.();
    main?.replaceChildren(page.element);
    current = page;
  }
  page.mount();
  document.title = `${route.title} · segserve`;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('.nav-list a[data-route]')) {
    if (new URL(link.href).pathname === path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // After in-app navigation, start screen readers and keyboard users at the new page's content.
  if (moveFocus) main?.focus();
}

document.addEventListener('click', (event) => {
  const link =
    event.target instanceof Element ? event.target.closest<HTMLAnchorElement>('a[data-route]') : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  history.pushState(null, '', url.pathname + url.search);
  render(true);
});
window.addEventListener('popstate', () => render(false));
render(false);

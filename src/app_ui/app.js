// The analyst page: sign-in (a token from the URL fragment or pasted, kept
// in this tab's sessionStorage only), and two views switched by buttons.

import { token, setToken, clearToken, claims, onUnauthorized } from "./api.js";
import { DashboardView } from "./dashboard.js";
import { ReportsView } from "./reports.js";

const $ = (id) => document.getElementById(id);

const views = {
  dashboard: { section: $("view-dashboard"), title: $("dashboard-title"), view: new DashboardView() },
  reports: { section: $("view-reports"), title: $("reports-title"), view: new ReportsView() },
};
let currentView = "dashboard";

/** Takes `#token=…` (and `view=reports`, to open that view) from the
 * address, keeps the token, and removes the fragment; whether there was
 * one. */
function tokenFromFragment() {
  if (!location.hash) return false;
  const params = new URLSearchParams(location.hash.slice(1));
  const value = params.get("token");
  const view = params.get("view");
  if (value === null && view === null) return false;
  if (value && value.trim()) setToken(value.trim());
  if (view in views) currentView = view;
  history.replaceState(history.state, "", location.pathname + location.search);
  return true;
}

/** Why a token cannot be used, or null. */
function tokenProblem(jwt) {
  const c = claims(jwt);
  if (!c) return "That is not a token: paste the whole JWT (three parts separated by dots).";
  if (typeof c.exp === "number" && c.exp * 1000 <= Date.now()) return "That token has expired: get a new one.";
  return null;
}

function showSignIn(message) {
  for (const { section, view } of Object.values(views)) {
    section.hidden = true;
    view.reset();
  }
  $("nav").hidden = true;
  $("who").hidden = true;
  document.documentElement.dataset.theme = "light";
  const box = $("sign-in-message");
  box.textContent = message || "";
  box.hidden = !message;
  $("sign-in").hidden = false;
  const input = $("token-input");
  input.value = "";
  input.focus();
}

function showApp() {
  const c = claims(token()) || {};
  const parts = [c.tenant && `Tenant ${c.tenant}`, c.role && `role ${c.role}`].filter(Boolean);
  $("who-text").textContent = parts.length ? parts.join(", ") : "Signed in";
  $("sign-in").hidden = true;
  $("sign-in-message").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  switchTo(currentView, false);
}

function switchTo(name, focus = true) {
  currentView = name in views ? name : "dashboard";
  for (const [key, { section }] of Object.entries(views)) section.hidden = key !== currentView;
  for (const button of document.querySelectorAll(".nav-button")) {
    if (button.dataset.view === currentView) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  const { title, view } = views[currentView];
  document.title = `${currentView === "reports" ? "Reports" : "Dashboard"} — Movers CRM`;
  view.show();
  if (focus) title.focus();
}

function signOut(message) {
  clearToken();
  showSignIn(message);
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
  const problem = tokenProblem(value);
  if (problem) {
    const box = $("sign-in-message");
    box.textContent = problem;
    box.hidden = false;
    $("token-input").focus();
    return;
  }
  setToken(value);
  showApp();
});

$("sign-out").addEventListener("click", () => signOut("You are signed out."));

for (const button of document.querySelectorAll(".nav-button")) {
  button.addEventListener("click", () => switchTo(button.dataset.view));
}

onUnauthorized(() => {
  if (token()) signOut("The server refused your token (401): it may have expired. Sign in again.");
});

/** Shows the page for the tab's token, or the form. */
function start() {
  const existing = token();
  const problem = existing ? tokenProblem(existing) : null;
  if (existing && !problem) {
    showApp();
  } else {
    if (existing) clearToken();
    showSignIn(problem);
  }
}

// A sign-in link opened in a tab that shows the page already.
window.addEventListener("hashchange", () => {
  if (!tokenFromFragment()) return;
  for (const { view } of Object.values(views)) view.reset();
  start();
});

tokenFromFragment();
start();

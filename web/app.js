// edgetune page: the main thread. It owns no model: the Web Worker (worker.js) holds the wasm
// module, the model and the data, and these modules turn its messages into the six cards
// (Model, Data, Settings, Train, Results, Add examples) and the cards' controls into messages.
// Text and image models share every card; what differs (columns or thumbnails, text-only or
// image-only settings, the try-it box) follows the model's kind and the data's.
// Everything the worker sends is kept in `app` (state.js); `refresh()` (errors.js) derives the
// buttons' states and `window.edgetune` (read by the browser tests) from it after every message.
// This file only starts the page. The modules: ui.js (small helpers), state.js (`app`,
// `window.edgetune`, the charts), worker-client.js (the worker protocol and its replies),
// events.js (training progress), card-model.js, card-data.js, card-settings.js, card-train.js,
// card-results.js, card-add.js (one per card) and errors.js (the error banner, `refresh`).
// They import each other's functions freely, but none calls another while it is evaluated:
// every listener is attached here, in the page's order, through the cards' `wire…` functions.

import { wireModelCard } from './card-model.js';
import { wireDataCard } from './card-data.js';
import { wireSettingsCard, syncSwitches } from './card-settings.js';
import { wireTrainCard } from './card-train.js';
import { wireResultsCard } from './card-results.js';
import { wireAddCard } from './card-add.js';
import { startWorker } from './worker-client.js';

wireModelCard();
wireDataCard();
wireSettingsCard();
wireTrainCard();
wireResultsCard();
wireAddCard();
syncSwitches();
startWorker();

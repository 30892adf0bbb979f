// The card link with Stripe: Stripe.js takes the card in its own field, confirms
// the SetupIntent with Stripe, and only the SetupIntent's id is posted to Opus.
(() => {
  const form = document.getElementById("stripe-card-form");
  if (!form || typeof Stripe === "undefined") return;
  const stripe = Stripe(form.dataset.stripeKey);
  const card = stripe.elements().create("card", {});
  card.mount("#card-element");
  const errors = document.getElementById("card-errors");
  const button = form.querySelector("button[type=submit]");
  const show = (message) => {
    errors.querySelector("p").textContent = message;
    errors.hidden = false;
  };
  let sending = false;
  form.addEventListener("submit", async (event) => {
    if (form.elements.setup_intent.value) return; // confirmed: post it
    event.preventDefault();
    if (sending) return;
    sending = true;
    button.disabled = true;
    const name = form.elements.name.value.trim();
    const result = await stripe.confirmCardSetup(form.dataset.clientSecret, {
      payment_method: { card, billing_details: name ? { name } : {} },
    });
    if (result.error) {
      show(result.error.message || "The card was not accepted. Check it and try again.");
      sending = false;
      button.disabled = false;
      return;
    }
    form.elements.setup_intent.value = result.setupIntent.id;
    form.submit();
  });
})();

// The payment confirmation link: Stripe.js runs the bank's check (3-D Secure),
// then the page posts and Opus asks Stripe what became of the payment.
(() => {
  const form = document.getElementById("stripe-confirm-form");
  if (!form || typeof Stripe === "undefined") return;
  const stripe = Stripe(form.dataset.stripeKey);
  const errors = document.getElementById("confirm-errors");
  const button = form.querySelector("button[type=submit]");
  let confirmed = false;
  form.addEventListener("submit", async (event) => {
    if (confirmed) return;
    event.preventDefault();
    button.disabled = true;
    const result = await stripe.confirmCardPayment(form.dataset.clientSecret, {
      payment_method: form.dataset.paymentMethod,
    });
    if (result.error && !result.paymentIntent) {
      errors.querySelector("p").textContent =
        result.error.message || "Your bank did not confirm the payment.";
      errors.hidden = false;
    }
    confirmed = true;
    form.submit();
  });
})();

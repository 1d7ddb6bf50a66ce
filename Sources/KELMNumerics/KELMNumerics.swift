// KELMNumerics: see DESIGN §1.

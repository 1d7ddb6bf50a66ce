// KELMTraining: see DESIGN §1.

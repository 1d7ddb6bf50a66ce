// KELMModel: see DESIGN §1.
